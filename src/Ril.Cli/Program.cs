Console.WriteLine("ril: placeholder");
